// The course's folder, for paths that must not depend on where a program was started from
// (logs/, a lesson's files, the programs tests and scripts start).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
