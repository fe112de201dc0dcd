#!/usr/bin/env node
import { createApp } from '../lib/app';
import { ConfigError } from '../lib/config';

// The deployment settings come from cdk.json "context" (or -c safe-reindex:<key>=<value>): lib/README.md.
try {
  createApp();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
