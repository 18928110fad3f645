// Lesson 06's promises against a real PostgreSQL and Mosquitto: each test has its own schema and topic.
import { describe, expect, test } from '@jest/globals';
import {
  countJobs,
  enqueueJobs,
  listen,
  publisher,
  scene,
  useScenes,
} from '../test/scenes/06-scheduled-jobs.ts';
import { expectOneSentence, runProgram } from '../test/testing.ts';

useScenes();

describe('scheduled jobs', () => {
  test('5 publishers side by side, 20,000 due jobs: the subscriber receives every job exactly once', async () => {
    const { schema, topic, filter } = scene('five');
    await enqueueJobs(schema, 20_000, '--topic', topic);
    const subscriber = await listen(filter);
    const five = Array.from({ length: 5 }, (_, i) =>
      publisher(schema, '--name', `P${i + 1}`, '--jobs-per-read', '500', '--exit-when-idle'),
    );
    const exits = await Promise.all(five.map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0, 0]);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect([subscriber.unique(), subscriber.duplicates()]).toEqual([20_000, 0]);
    expect(await countJobs(schema)).toBe(0);
    // They really shared the work.
    const counts = five.map((p) => Number(/(\d+) jobs published in/.exec(p.stderr)?.[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  test('jobs due in the future are not published before their time, and are published soon after it', async () => {
    const { schema, topic, filter } = scene('future');
    const subscriber = await listen(filter, '1');
    const running = publisher(schema, '--loop-ms', '50');
    await running.waitFor(/publishing due jobs/);
    await enqueueJobs(schema, 20, '--topic', topic, '--in', '2', '--spread', '1');
    await running.waitFor(/ 20 jobs published \(/);
    running.kill('SIGINT');
    expect((await running.exited).code).toBe(130);
    await subscriber.drain(topic);
    await subscriber.stop();
    const jobs = subscriber.arrivals.filter((arrival) => !arrival.id.startsWith('end-'));
    expect(jobs).toHaveLength(20);
    for (const { receivedAt, fireAt } of jobs) {
      expect(receivedAt).toBeGreaterThanOrEqual(Math.floor(fireAt));
      expect(receivedAt - fireAt).toBeLessThan(1500);
    }
  });

  test('a publisher killed with SIGKILL mid-run loses no job; the jobs published twice were in flight, and carry the same id', async () => {
    const { schema, topic, filter } = scene('kill');
    await enqueueJobs(schema, 20_000, '--topic', topic);
    const subscriber = await listen(filter);
    const doomed = publisher(schema, '--name', 'Doomed', '--jobs-per-read', '200', '--lanes', '2');
    const survivor = publisher(schema, '--name', 'Survivor', '--jobs-per-read', '200', '--exit-when-idle');
    await doomed.waitFor(/[1-9]\d* jobs published \(/); // it has committed batches
    doomed.kill('SIGKILL');
    expect((await survivor.exited).code).toBe(0);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect(subscriber.unique()).toBe(20_000);
    // Rows the killed publisher had claimed but not committed were unlocked and published again:
    // at most its batches in flight (2 lanes × 200).
    expect(subscriber.duplicates()).toBeLessThanOrEqual(400);
    expect(await countJobs(schema)).toBe(0);
  });
});

describe('failures: one sentence, non-zero exit, nothing marked processed that was not published', () => {
  test.each([
    [
      'PostgreSQL down',
      { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/postgres' },
      /Could not connect to PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \(connection refused\)/,
    ],
    [
      'a database that does not exist',
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/no_such_db' },
      /has no such database .*DATABASE_URL/,
    ],
    [
      'a DATABASE_URL that is not a URL',
      { DATABASE_URL: 'postgres://[nonsense' },
      /DATABASE_URL is not a URL PostgreSQL can use/,
    ],
  ])('%s', async (_, env, pattern) => {
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--exit-when-idle'], env);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(pattern);
    expect(expectOneSentence(exit.stderr, 'secret')).toEqual([]);
  });

  test('the MQTT broker down: nothing is claimed', async () => {
    const { schema, topic } = scene('nomqtt');
    await enqueueJobs(schema, 50, '--topic', topic);
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--schema', schema, '--exit-when-idle'], {
      MQTT_URL: 'mqtt://127.0.0.1:1',
    });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(
      /Could not connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:1 \(connection refused\)/,
    );
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(await countJobs(schema)).toBe(50);
  });

  test('--jobs-per-read 0 exits 2', async () => {
    const exit = await runProgram('06-scheduled-jobs/publisher', ['--jobs-per-read', '0']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/--jobs-per-read must be at least 1, not 0/);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
