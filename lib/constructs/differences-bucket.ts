import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface DifferencesBucketProps {
  /**
   * What happens to the bucket (the lists of differing ids a team reads months later) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where full verification lists every differing id of a run (`runs/<run id>/differences/*.jsonl`), read by
 * `safe-reindex aws report`: encrypted at rest, no public access, TLS only, retained like the ledger.
 */
export class DifferencesBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The DIFFERENCES_URL the verifying function writes under. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: DifferencesBucketProps = {}) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });
    this.url = `s3://${this.bucket.bucketName}/runs/`;
    acknowledge(this.bucket, [
      {
        id: 'AwsSolutions-S1',
        reason: 'Only the stack\'s verifying function writes here (lists of differing ids); an access-log bucket would hold more than the bucket itself. CloudTrail data events cover reads where a team needs them.',
      },
    ]);
  }
}
