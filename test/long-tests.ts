// The fault drills, the broker-restart tests and the cluster drills restart or kill brokers, then
// wait for a program's recovery. Jest reads testTimeout only from the top of its config (a
// project's own is ignored), so these projects raise it here: a bound for a hang on a busy
// machine, not a speed target.
import { jest } from '@jest/globals';

jest.setTimeout(300_000);
