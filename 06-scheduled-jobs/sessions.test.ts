// Devices that were away get their jobs (a persistent session), and what the broker says in its
// PUBACK counts: 0x10 "no matching subscribers" is shown, 0x80 and above sets the job aside.
import { describe, expect, test } from '@jest/globals';
import {
  countJobs,
  enqueueJobs,
  listen,
  publisher,
  query,
  scene,
  sessionId,
  useScenes,
} from '../test/scenes/06-scheduled-jobs.ts';
import { start } from '../test/testing.ts';

useScenes();

describe('a device that was away', () => {
  test('with --client-id (persistent session, QoS 1) it receives every job published while it was away, none twice', async () => {
    const { schema, topic, filter } = scene('away');
    const clientId = sessionId('valve');
    const first = start('06-scheduled-jobs/subscriber', [
      '--topic',
      filter,
      '--client-id',
      clientId,
      '--session-expiry',
      '120',
    ]);
    await first.waitFor(/Subscribed to .*session '.*' kept 120 s/);
    first.kill('SIGINT');
    expect((await first.exited).code).toBe(130);
    await enqueueJobs(schema, 500, '--topic', topic);
    const sent = publisher(schema, '--exit-when-idle');
    const published = await sent.exited;
    expect(published.code).toBe(0);
    expect(published.stderr).toMatch(/500 jobs published/);
    expect(published.stderr).not.toMatch(/no device was subscribed/);
    const back = start('06-scheduled-jobs/subscriber', [
      '--topic',
      filter,
      '--client-id',
      clientId,
      '--count',
      '500',
    ]);
    const exit = await back.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/ 500 distinct jobs, 0 duplicates/);
  });

  test('with --client-id and --count, the jobs past the count stay in the session for the next run: none lost, none twice', async () => {
    const { schema, topic, filter } = scene('split');
    const clientId = sessionId('valve');
    const args = ['--topic', filter, '--client-id', clientId, '--session-expiry', '120'];
    const first = start('06-scheduled-jobs/subscriber', args);
    await first.waitFor(/Subscribed to /);
    first.kill('SIGINT');
    expect((await first.exited).code).toBe(130);
    await enqueueJobs(schema, 300, '--topic', topic);
    expect((await publisher(schema, '--exit-when-idle').exited).code).toBe(0);
    // The broker sends up to 20 jobs ahead of our PUBACKs: those in flight at the 100th must not be taken.
    const part = await start('06-scheduled-jobs/subscriber', [...args, '--count', '100']).exited;
    expect(part.stderr).toMatch(/ 100 distinct jobs, 0 duplicates/);
    const rest = await start('06-scheduled-jobs/subscriber', [...args, '--count', '200']).exited;
    expect(rest.stderr).toMatch(/ 200 distinct jobs, 0 duplicates/);
  });

  test('without --client-id (clean session) it gets none of them, and the publisher says nobody was subscribed (PUBACK 0x10)', async () => {
    const { schema, topic, filter } = scene('clean');
    await enqueueJobs(schema, 200, '--topic', topic);
    const sent = publisher(schema, '--exit-when-idle');
    const published = await sent.exited;
    expect(published.code).toBe(0);
    expect(published.stderr).toMatch(/200 published, but no device was subscribed \(PUBACK 0x10\)/);
    const late = await listen(filter, '1');
    await late.drain(topic);
    await late.stop();
    expect(late.unique()).toBe(0);
    expect(await countJobs(schema)).toBe(0);
  });
});

describe('bad jobs never block good ones', () => {
  test('a job the broker refuses (0x87 Not authorized) is set aside with its reason; the jobs behind it are published', async () => {
    const { schema, topic, filter } = scene('refused');
    await enqueueJobs(schema, 300, '--topic', topic);
    // Something other than enqueue (which refuses $ topics) put a job the broker will refuse first in line.
    await query(
      schema,
      "INSERT INTO jobs (topic, payload, fire_at) VALUES ('$SYS/lesson06/x', '{}', now() - interval '1 minute')",
    );
    const subscriber = await listen(filter);
    const sent = publisher(schema, '--lanes', '1', '--exit-when-idle');
    const exit = await sent.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(
      /1 jobs refused by the MQTT broker \(job \d+ on '\$SYS\/lesson06\/x': 0x87 Not authorized\): set aside/,
    );
    expect(exit.stderr).toMatch(/300 jobs published in .*1 refused by the broker and set aside/);
    await subscriber.drain(topic);
    await subscriber.stop();
    expect([subscriber.unique(), subscriber.duplicates()]).toEqual([300, 0]);
    expect(
      await query(schema, 'SELECT topic, processed, failure FROM jobs WHERE failure IS NOT NULL'),
    ).toEqual([
      {
        topic: '$SYS/lesson06/x',
        processed: true,
        failure: 'refused by the MQTT broker: 0x87 Not authorized',
      },
    ]);
    expect(await countJobs(schema)).toBe(0);
  });
});
