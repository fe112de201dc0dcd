import type { Client } from '@opensearch-project/opensearch';
import type { CanonicalRequest, CredentialReference } from '../planning/canonical-request';
import type { RunConfig } from './config';
import type { Ledger, LockHolder, RunRecord } from '../ledger/ledger';
import type { ProgressMark } from '../task-loop/adaptive-wait';
import { DryRunRequiredError } from './errors';
import type { DifferencesStore } from '../checks/differences';

/** What the state machine carries from state to state: small, no secrets (it lands in execution history). */
export interface RunRef {
  readonly runId: string;
  readonly dryRun: boolean;
  readonly targetIndex: string;
  readonly fingerprint: string;
  readonly requestHash: string;
  /** A verify-only run (no reindex; dryRun is true too): the state machine goes straight to CheckParity. */
  readonly verifyOnly?: boolean;
  /** A dry run with `probe: "full"`: PredictEveryDocument runs before its approval is recorded. */
  readonly probeFull?: boolean;
}

export interface PollCursor {
  readonly launchedAtMs: number;
  /** The previous poll: processed count and seconds since launch. */
  readonly previous: { readonly processed: number; readonly secondsSinceLaunch: number } | null;
  readonly mark: ProgressMark | null;
  /** Rail 2's second half (task total against the source baseline) has been done. */
  readonly totalChecked: boolean;
  readonly polls: number;
  readonly stallReported: boolean;
}

export interface PollState {
  readonly completed: boolean;
  readonly waitSeconds: number;
  readonly longPollSeconds: number;
  readonly cursor: PollCursor;
}

/** One partition of an approved plan, as a Map iteration carries it (no counts: they are in the ledger). */
export interface PartitionRef {
  readonly id: string;
  readonly kind: 'range' | 'missing-date' | 'all';
  readonly start?: string;
  readonly end?: string;
}

export interface RunState {
  readonly run: RunRef;
  /** Inside the partition Map: the partition this iteration runs. */
  readonly partition?: PartitionRef;
  /** Inside the partition Map: whether the task slots are held. */
  readonly slot?: { readonly acquired: boolean; readonly waitSeconds: number };
  readonly launch?: { readonly taskId: string };
  readonly poll?: PollState;
  /** What a Catch put here: Lambda's `Cause` is a JSON string. */
  readonly failure?: { readonly Error: string; readonly Cause?: string };
}

/** A Lambda task's payload, as the ASL builds it. */
export interface StateInvocation {
  readonly state: RunState;
  readonly executionArn?: string;
}

export type MetricName =
  | 'Created'
  | 'Updated'
  | 'VersionConflicts'
  | 'Failures'
  | 'CounterMismatch'
  | 'ParityDrift'
  | 'SampleMissing'
  | 'VerifiedDifferences'
  | 'Stalled'
  | 'ForeignReindexCancelled';

export interface RunMetrics {
  /** Emits each value with the target index as a dimension and once more without it. */
  emit(targetIndex: string, values: Partial<Record<MetricName, number>>): void;
}

export interface RunLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Everything a state's logic needs from the outside world, passed in (Lambda and local runner differ). */
export interface RunDeps {
  readonly ledger: Ledger;
  readonly target: Client;
  /** The target endpoint fixed at deploy time (a flag locally). */
  readonly targetEndpoint: string;
  /** `source.remote.external: true` in the request (Amazon OpenSearch Service, source not a domain); env REMOTE_EXTERNAL. */
  readonly remoteExternal?: boolean;
  /** Reindex tasks writing into the target domain at once, across runs (env MAX_TASKS_PER_DOMAIN); default 4. */
  readonly maxTasksPerDomain?: number;
  /** Client for the run's source cluster, with its credentials. */
  sourceClient(config: RunConfig): Promise<Client>;
  /** The source credentials themselves: only the launch step ever reads them. */
  sourceCredentials(config: RunConfig): Promise<{ username: string; password: string } | undefined>;
  /** The references that stand for those credentials in everything stored or hashed. */
  credentialReference(config: RunConfig): CredentialReference | undefined;
  /** Whether a lock holder has finished: its record is terminal (and on AWS its execution stopped). */
  isHolderFinished(holder: LockHolder): Promise<boolean>;
  readonly metrics: RunMetrics;
  readonly log: RunLog;
  now(): Date;
  /** Where full verification writes the complete list of differing ids (env DIFFERENCES_URL). */
  readonly differences?: DifferencesStore;
  /** Full verification: no new range is started after this many seconds of one invocation (env VERIFY_INVOCATION_SECONDS). @default 480 */
  readonly verifyInvocationSeconds?: number;
  /** Full verification: a range holding more than this on either cluster is halved or sliced (env VERIFY_RANGE_DOCS). @default 200,000 */
  readonly verifyRangeDocs?: number;
}

/** The run's record: each state loads it once per invocation and passes it down. */
export async function loadRun(deps: RunDeps, runId: string): Promise<RunRecord> {
  const record = await deps.ledger.getRun(runId);
  if (!record) throw new Error(`run ${runId} has no record in the ledger`);
  return record;
}

/**
 * The request rail 1 approved, as CheckApproval copied it onto the run record. Launches read it there,
 * not from the approval item: the approval's age is judged once, at CheckApproval, so a task launched
 * hours later (after a wait for a task slot, or a partition late in a long run) is not refused as
 * expired, and the approval item's TTL deletion cannot take it away.
 */
export function approvedRequest(record: RunRecord): CanonicalRequest {
  if (!record.approvedBy?.canonicalRequest) throw new DryRunRequiredError(`run ${record.runId} holds no approved request: rail 1 (CheckApproval) did not pass`);
  return record.approvedBy.canonicalRequest;
}
