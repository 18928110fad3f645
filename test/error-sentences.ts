// What the error-sentence tests share (shared/errors.test.ts for RabbitMQ, the management API and
// the network; 06-scheduled-jobs/errors.test.ts for PostgreSQL and MQTT): a URL with a password
// that must never show, the error a promise fails with, and the contract every sentence keeps.
import { expect } from '@jest/globals';
import { CourseError, type Explainer, explain } from '../shared/errors.ts';

/** `base` with a user and a password (encoded @ and /) that no sentence may show. */
export const secretUrl = (base: string) => base.replace('://', '://learner:p%40ss%2FSECRET@');

/** The error `promise` rejects with; the test fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('it did not fail');
}

/** The sentence for `error`, checked against the contract: one line, no secret, what to do. */
export function sentence(error: unknown, service: Explainer, where: string): CourseError {
  const explained = explain(error, { service, url: where });
  expect(explained).toBeInstanceOf(CourseError);
  expect(explained.message).not.toMatch(/\n/);
  expect(explained.message).not.toContain('SECRET');
  expect(explained.message).toMatch(/: .+\.$/); // what happened: what to do.
  return explained;
}
