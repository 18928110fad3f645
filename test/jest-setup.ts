// Tests keep their log files out of the learner's logs/ folder (that one goes into the hand-in).
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.LOG_DIR ??= join(tmpdir(), 'rabbitmq-course-test-logs');
