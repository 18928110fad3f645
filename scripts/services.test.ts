// npm run services on bad input: one sentence, a non-zero exit, no stack, no password.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { expectOneSentence, runProgram, stopAll } from '../test/testing.ts';

const services = (args: string[], env: NodeJS.ProcessEnv = {}) => runProgram('scripts/services', args, env);

let html: Server;
let htmlUrl = '';
beforeAll(async () => {
  // A web server that answers every path with a page, as a wrong RABBITMQ_MANAGEMENT_URL might.
  html = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><title>Not RabbitMQ</title>');
  });
  await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
  htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
});
afterEach(stopAll);
afterAll(() => new Promise<void>((resolve) => html.close(() => resolve())));

describe('npm run services: bad input', () => {
  test('an unknown service name: one sentence naming the choices, exit 2', async () => {
    const exit = await services(['nosuch']);
    expect(exit.code).toBe(2);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr).toMatch(
      /Unknown service 'nosuch': choose from rabbitmq, postgres, mosquitto, chromium, rabbitmq4/,
    );
  });

  test('an AMQP_URL whose password has an unencoded /: one sentence, no stack, no password', async () => {
    const exit = await services(['rabbitmq'], { AMQP_URL: 'amqp://u:pa/SECRET@localhost:1' });
    expect(exit.code).toBe(1);
    expect(expectOneSentence(exit.stderr, 'SECRET')).toEqual([]);
    expect(exit.stderr).toMatch(/AMQP_URL is not a URL/);
  });

  test('a management URL that answers an HTML page: one sentence that says so', async () => {
    const exit = await services(['rabbitmq'], { RABBITMQ_MANAGEMENT_URL: htmlUrl });
    expect(exit.code).toBe(1);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
    expect(exit.stderr).toMatch(/answered 200 with an HTML page that is not RabbitMQ's management API/);
  });

  test('a wrong management password: one sentence about the login, the password never printed', async () => {
    const exit = await services(['rabbitmq'], {
      RABBITMQ_MANAGEMENT_URL: 'http://guest:p%40ss%2FSECRET@localhost:15672'.replace(
        'localhost:15672',
        new URL(process.env.RABBITMQ_MANAGEMENT_URL || 'http://localhost:15672').host,
      ),
    });
    expect(exit.code).toBe(1);
    expect(expectOneSentence(exit.stderr, 'SECRET')).toEqual([]);
    expect(exit.stderr).toMatch(/refused the login .*\(401\)/);
  });

  test('--stop with anything but rabbitmq4: one sentence, exit 2', async () => {
    const exit = await services(['rabbitmq', '--stop']);
    expect(exit.code).toBe(2);
    expect(expectOneSentence(exit.stderr)).toEqual([]);
  });
});
