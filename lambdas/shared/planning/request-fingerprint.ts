import { isPartitioned, type RunConfig } from '../runtime/config';
import { fingerprintOf, requestHash, type CanonicalRequest } from './canonical-request';
import { partitionedRequestHash } from './partitions';

/**
 * The hash and fingerprint of a run's request: the canonical request (with the partitions spec for a
 * partitioned run), the target and the parity mode. ValidateInput takes them of the request as given
 * (the approval's lookup key); with `batchSize: "auto"` the dry run takes them again of the request
 * with the size it resolved, which is what its header shows and its approval covers.
 */
export function requestFingerprint(config: RunConfig, request: CanonicalRequest, targetEndpoint: string): { hash: string; fingerprint: string } {
  const hash = isPartitioned(config) ? partitionedRequestHash(request, config.partitions!) : requestHash(request);
  return { hash, fingerprint: fingerprintOf({ endpoint: targetEndpoint }, hash, config.parity.mode) };
}
