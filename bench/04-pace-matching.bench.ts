// Lesson 04: how closely the paced producer holds its target rate (the lesson's promise that
// 1000 msg/s means 1000 msg/s). Measured here, never asserted in a test: a busy machine makes any
// program slower, and a test can only promise that the producer never goes faster than its target.
import amqp from 'amqplib';
import { brokerUrls } from '../shared/connection.ts';
import { median, row, run } from './harness.ts';

const ROUNDS = 3;
const SECONDS = 5;

async function confirmedRate(target: number, queue: string): Promise<number> {
  const output = await run('04-pace-matching/fast-producer.ts', [
    '--queue',
    queue,
    '--queue-limit',
    '100000',
    '--rate',
    String(target),
    '--count',
    String(target * SECONDS),
  ]);
  const match = /confirmed at ([\d.]+) msg\/s/.exec(output);
  if (!match) throw new Error(`no rate in:\n${output}`);
  return Number(match[1]);
}

export default async function bench(): Promise<void> {
  const connection = await amqp.connect(brokerUrls()[0] ?? 'amqp://localhost');
  const channel = await connection.createChannel();
  try {
    for (const target of [100, 500, 1000]) {
      const rates: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const queue = `bench-pace-${process.pid}-${target}-${round}`;
        try {
          rates.push(await confirmedRate(target, queue));
        } finally {
          await channel.deleteQueue(queue).catch(() => {});
          await channel.deleteQueue(`${queue}.dead`).catch(() => {});
        }
      }
      const measured = median(rates);
      row(
        `fast-producer at --rate ${target} for ${SECONDS} s (median of ${ROUNDS})`,
        `${measured.toFixed(1)} msg/s = ${(measured / target).toFixed(3)}× target`,
      );
    }
  } finally {
    await connection.close();
  }
}
