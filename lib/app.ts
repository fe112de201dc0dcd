import { App, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Validations } from 'aws-cdk-lib';
import { parseConfig, type SafeReindexConfig } from './config';
import { SafeReindexStack } from './safe-reindex-stack';

export interface CreateAppOptions {
  /**
   * Bundle the Lambda handlers with esbuild.
   * @default true
   */
  readonly bundle?: boolean;
  /** @default - the CDK default (cdk.out, or the CLI's outdir) */
  readonly outdir?: string;
  /**
   * Run the cdk-nag AwsSolutions pack at synth.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Run aws-cdk-lib's built-in CloudFormation template validation at synth.
   * @default true
   */
  readonly cfnValidation?: boolean;
}

export interface SafeReindexApp {
  readonly app: App;
  readonly stack: SafeReindexStack;
  readonly config: SafeReindexConfig;
}

/**
 * The app factory (bin/safe-reindex.ts and the tests call it): context parsed once into the typed
 * config, one stack, cdk-nag AwsSolutions checks registered as a validation plugin.
 * @param context the `safe-reindex:` keys; default: the app's own context (cdk.json and -c)
 */
export function createApp(context?: Readonly<Record<string, unknown>>, options: CreateAppOptions = {}): SafeReindexApp {
  const appProps: AppProps = {
    context: {
      ...(context ?? {}),
      // An empty list: no stack is bundled (assets are placeholders), for fast template tests.
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
    ...(options.outdir ? { outdir: options.outdir } : {}),
    ...(options.cfnValidation === false ? { builtinCloudFormationValidation: false } : {}),
  };
  const app = new App(appProps);
  const config = parseConfig(readContext(app));
  const stack = new SafeReindexStack(app, config.stackName, {
    config,
    ...(config.env ? { env: config.env } : {}),
    description: 'safe-reindex: version-aware backfill from Elasticsearch 7.x to OpenSearch (Step Functions)',
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config };
}

/** Every context value the app sees (cdk.json, -c flags, App props), as one plain object. */
function readContext(app: App): Record<string, unknown> {
  const all = app.node.getAllContext() as Record<string, unknown>;
  return Object.fromEntries(Object.entries(all).filter(([key]) => key.startsWith('safe-reindex:')));
}
