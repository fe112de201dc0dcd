import { createApp } from '../../lib/app';
import { ConfigError } from '../../lib/config';

// `tsx synth.ts <outdir> <context as JSON>`: the stack synthesised with bundling into its own directory,
// in a process of its own so that the bundlers' output can be kept for when the synth fails.
const [outdir, context] = process.argv.slice(2);
try {
  createApp(JSON.parse(context!) as Record<string, unknown>, { outdir: outdir! }).app.synth();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
}
