// Lesson 08's fault drills on a private node (slot 10), so the learner's broker is never touched:
// a receiver whose connection the broker closes binds a new queue and counts what it missed; a
// durable --queue across a broker restart loses nothing that the emitter was told reached it.
import { afterAll, describe, expect, test } from '@jest/globals';
import amqp from 'amqplib';
import { usePrivateBroker } from '../test/private-broker.ts';
import { closeConnection, connectionNamed, runProgram, start, uniqueName, within } from '../test/testing.ts';

const node = usePrivateBroker(10);
const env = () => ({ AMQP_URL: node.amqpUrl, RABBITMQ_MANAGEMENT_URL: node.managementUrl });
const numbers = (lines: string[]) => lines.map((line) => Number(/#(\d+)$/.exec(line)?.[1]));
const table: string[] = [];
afterAll(() => {
  process.stderr.write(
    `\n| drill | sent | confirmed | received | missed (said) | lost |\n|---|---:|---:|---:|---:|---:|\n${table.join('\n')}\n`,
  );
});

describe('lesson 08 under faults', () => {
  test('the broker closes the receiver’s connection: it binds a new queue, goes on, and says exactly how many it missed', async () => {
    const exchange = uniqueName('logs');
    const receiver = start('08-publish-subscribe/receive-logs', ['--exchange', exchange], env());
    await receiver.waitFor(/Waiting for logs/);
    const connection = await connectionNamed(node.managementUrl, 'lesson 08 receive-logs');
    const emitter = start(
      '08-publish-subscribe/emit-log',
      ['--exchange', exchange, '--count', '100', '--interval', '50', 'tick'],
      env(),
    );
    await receiver.waitFor(/ \[x\] tick #10$/);
    await closeConnection(node.managementUrl, connection);
    await within(60, receiver, receiver.waitFor(/Reconnected to .*consuming from amq\.gen-/));
    const emitted = await within(60, emitter, emitter.exited);
    expect(emitted.code).toBe(0);
    expect(emitted.stderr).toContain('RabbitMQ confirmed all 100 lines.');
    await within(30, receiver, receiver.waitFor(/ \[x\] tick #100$/));
    receiver.kill('SIGINT');
    const exit = await receiver.exited;
    expect(exit.code).toBe(130);
    const got = numbers(receiver.matching(/ \[x\] tick #/));
    const missedLines = receiver.matching(/ \[!\] missed \d+ messages? while reconnecting/);
    const said = missedLines.reduce((sum, line) => sum + Number(/missed (\d+)/.exec(line)![1]), 0);
    // Each line at most once, in order; what was not received is exactly what the receiver says it missed.
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(new Set(got).size).toBe(got.length);
    expect(said).toBe(100 - got.length);
    const unroutable = Number(/ \[!\] (\d+) of 100 lines reached no queue/.exec(emitted.stderr)?.[1] ?? 0);
    table.push(
      `| connection closed, exclusive queue | 100 | 100 | ${got.length} | ${said} | ${100 - got.length - said} |`,
    );
    expect(missedLines).toHaveLength(1);
    expect(said).toBeGreaterThan(0); // the cut and the reconnect took longer than one 50 ms tick
    // Lines published while the receiver had no queue reached no queue at all: the emitter says so too.
    expect(unroutable).toBe(said);
    expect(exit.stderr).toContain(` [!] ${said} numbered line${said === 1 ? '' : 's'} missed in all.`);
  });

  test('a durable --queue across a broker restart: every line the emitter was told reached a queue is received', async () => {
    const exchange = uniqueName('logs');
    const queue = uniqueName('my-logs');
    const receiver = start(
      '08-publish-subscribe/receive-logs',
      ['--exchange', exchange, '--queue', queue, '--count', '5'],
      env(),
    );
    await receiver.waitFor(/Waiting for logs/);
    // Five lines while it listens, then it stops: the next 20 wait in its durable queue.
    expect(
      (
        await runProgram(
          '08-publish-subscribe/emit-log',
          ['--exchange', exchange, '--count', '5', 'before'],
          env(),
        )
      ).code,
    ).toBe(0);
    expect((await receiver.exited).code).toBe(0);
    const away = await runProgram(
      '08-publish-subscribe/emit-log',
      ['--exchange', exchange, '--count', '20', 'kept'],
      env(),
    );
    expect(away.code).toBe(0);
    expect(away.stderr).not.toContain('reached no queue');

    await node.ctl(['stop_app']);
    await node.ctl(['start_app']);

    // The exchange was not durable: it is gone, and with it the binding; the queue and its lines are not.
    const back = start(
      '08-publish-subscribe/receive-logs',
      ['--exchange', exchange, '--queue', queue, '--count', '21'],
      env(),
    );
    await back.waitFor(/Waiting for logs in/);
    const after = await runProgram(
      '08-publish-subscribe/emit-log',
      ['--exchange', exchange, 'after the restart'],
      env(),
    );
    expect(after.stderr).not.toContain('reached no queue'); // the receiver bound the queue again
    const exit = await within(60, back, back.exited);
    expect(exit.code).toBe(0);
    const kept = numbers(back.matching(/ \[x\] kept #/));
    expect(kept).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(back.matching(/ \[x\] after the restart$/)).toHaveLength(1);
    table.push(`| broker restart, durable --queue | 20 | 20 | ${kept.length} | 0 | ${20 - kept.length} |`);
    const connection = await amqp.connect(node.amqpUrl);
    const channel = await connection.createChannel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
    await channel.deleteQueue(queue);
    await connection.close();
  });
  // Lesson 09's receivers share this file's node (slot 10 is both lessons'): files of one slot must not run side by side.
  test('lesson 09: the broker closes receive-logs-topic’s connection; it binds its patterns again and gets what comes after', async () => {
    const exchange = uniqueName('topic_logs');
    const receiver = start(
      '09-routing-and-topics/receive-logs-topic',
      ['--exchange', exchange, '--count', '2', 'kern.*', '*.critical'],
      env(),
    );
    await receiver.waitFor(/Waiting for kern\.\* \*\.critical in/);
    const before = await runProgram(
      '09-routing-and-topics/emit-log-topic',
      ['--exchange', exchange, 'kern.critical', 'before'],
      env(),
    );
    expect(before.code).toBe(0);
    await receiver.waitFor(/ \[x\] kern\.critical:'before'/);
    await closeConnection(
      node.managementUrl,
      await connectionNamed(node.managementUrl, 'lesson 09 receive-logs-topic'),
    );
    await within(60, receiver, receiver.waitFor(/Reconnected to .*consuming from amq\.gen-/));
    // Both bindings are back: a key matching only the second pattern arrives.
    const after = await runProgram(
      '09-routing-and-topics/emit-log-topic',
      ['--exchange', exchange, 'cron.critical', 'after'],
      env(),
    );
    expect(after.stderr).not.toContain('reached no queue');
    const exit = await within(60, receiver, receiver.exited);
    expect(exit.code).toBe(0);
    expect(receiver.matching(/^ \[x\] /)).toEqual([
      " [x] kern.critical:'before'",
      " [x] cron.critical:'after'",
    ]);
  });
});
