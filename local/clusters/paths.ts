import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const MAVEN_DIR = join(here, 'maven');
export const LAUNCHER_DIR = join(here, 'launcher');
export const CACHE_DIR = join(here, '.cache');
