// Every URL shape a password can hide in, masked: in a URL given whole, and inside free text.
import { describe, expect, test } from '@jest/globals';
import { checkUrl, managementAuth, settings } from './config.ts';
import { maskSecrets, maskUrl, urlProblem, urlSecrets } from './secrets.ts';

const noEnv = {};

describe('maskUrl: a URL given whole', () => {
  test.each([
    ['a plain password', 'amqp://guest:SECRET@host:5672', 'amqp://guest:***@host:5672'],
    ['@ in the password, unencoded', 'amqp://guest:p@ss-SECRET@host', 'amqp://guest:***@host'],
    ['@ in the password, encoded', 'amqp://guest:p%40ss-SECRET@host', 'amqp://guest:***@host'],
    ['/ in the password, unencoded', 'amqp://u:pa/SECRET@localhost:1', 'amqp://u:***@localhost:1'],
    ['/ in the password, encoded', 'amqp://u:pa%2FSECRET@localhost:1', 'amqp://u:***@localhost:1'],
    ['# in the password, unencoded', 'amqp://u:pa#SECRET@localhost/vh', 'amqp://u:***@localhost/vh'],
    [': in the password', 'amqp://u:pa:SECRET@localhost:1', 'amqp://u:***@localhost:1'],
    ['? in the password', 'amqp://u:pa?SECRET@localhost:1', 'amqp://u:***@localhost:1'],
    ['spaces in the password', 'amqp://u:p ss SECRET@localhost:1', 'amqp://u:***@localhost:1'],
    ['a port-like password before a path', 'amqp://u:1/SECRET@localhost', 'amqp://u:***@localhost'],
    ['an empty user', 'amqp://:SECRET@localhost', 'amqp://:***@localhost'],
    [
      'the password in the query string (pg honours it)',
      'postgres://u@h/db?password=SECRET',
      'postgres://u@h/db?password=***',
    ],
    [
      'sslpassword and a kept parameter',
      'postgres://u@h/db?sslpassword=SECRET&x=1',
      'postgres://u@h/db?sslpassword=***&x=1',
    ],
    [
      'an @ in a query value after the password',
      'postgres://u:SECRET@h/db?mail=a@b',
      'postgres://u:***@h/db?mail=a@b',
    ],
    [
      'user-info in the management URL',
      'http://admin:SECRET@localhost:15672',
      'http://admin:***@localhost:15672',
    ],
    ['the management UI route is kept', 'http://localhost:15672/#/queues', 'http://localhost:15672/#/queues'],
    ['a fragment that holds the rest of a password', 'amqp://u:12#SECRET', 'amqp://u:12#***'],
    [
      'a node list',
      'amqp://g:SECRET1@h1:5673,amqp://g:SECRET2@h2:5674',
      'amqp://g:***@h1:5673,amqp://g:***@h2:5674',
    ],
    ['a comma inside a password is not a list', 'amqp://u:a,SECRET@h', 'amqp://u:***@h'],
    ['no password at all', 'mqtt://localhost:1883', 'mqtt://localhost:1883'],
    [
      'a user without a password',
      'postgres://postgres@localhost:5432/postgres',
      'postgres://postgres@localhost:5432/postgres',
    ],
    ['not a URL at all', 'not a url SECRET', '***'],
    ['user:password@host without a scheme', 'guest:SECRET@localhost', '***'],
    ['a scheme but no host that parses', 'amqp://SECRET words here', 'amqp://***'],
  ])('%s', (_, url, masked) => {
    expect(maskUrl(url)).toBe(masked);
    expect(maskUrl(url)).not.toContain('SECRET');
  });
});

describe('maskSecrets: free text', () => {
  test.each([
    [
      'an error that quotes a URL',
      'connect to amqp://u:p@ss-SECRET@h:1 failed',
      'connect to amqp://u:***@h:1 failed',
    ],
    ['a URL in quotes', `Invalid URL 'amqp://u:pa/SECRET@h'`, `Invalid URL 'amqp://u:***@h'`],
    [
      'a password with spaces',
      'at amqp://u:p ss SECRET@localhost:1 (refused)',
      'at amqp://u:***@localhost:1 (refused)',
    ],
    [
      'a query password',
      'PostgreSQL at postgres://u@h/db?password=SECRET refused',
      'PostgreSQL at postgres://u@h/db?password=*** refused',
    ],
    [
      'a key=value connection string',
      'host=h user=u password=SECRET dbname=d',
      'host=h user=u password=*** dbname=d',
    ],
    ['a quoted key=value password', "password='SEC RET' host=h", 'password=*** host=h'],
    [
      'a node list',
      'nodes amqp://g:SECRET1@h1,amqp://g:SECRET2@h2 down',
      'nodes amqp://g:***@h1,amqp://g:***@h2 down',
    ],
  ])('%s', (_, text, masked) => {
    expect(maskSecrets(text, noEnv)).toBe(masked);
  });

  test('text without secrets is left alone, ports and e-mail addresses included', () => {
    const text =
      'RabbitMQ at amqp://localhost:5672 (refused), mail admin@example.com; see http://localhost:15672/#/queues.';
    expect(maskSecrets(text, noEnv)).toBe(text);
  });

  test('the configured passwords are masked wherever they appear, raw, decoded or encoded', () => {
    const env = {
      AMQP_URL: 'amqp://u:p%40ss-SECRET@h',
      DATABASE_URL: 'postgres://u@h/db?password=DBSECRET',
      MQTT_URL: 'mqtt://m:MQ SECRET@h',
      RABBITMQ_MANAGEMENT_URL: 'http://admin:MGMTSECRET@h:15672',
    };
    const text = 'login p@ss-SECRET failed; p%40ss-SECRET; DBSECRET; MQ SECRET; MQ%20SECRET; MGMTSECRET';
    const masked = maskSecrets(text, env);
    expect(masked).not.toMatch(/SECRET/);
    expect(masked).toBe('login *** failed; ***; ***; ***; ***; ***');
  });

  test('the configured URL quoted whole is replaced by its masked form', () => {
    const env = { AMQP_URL: 'amqp://u:a b/c#SECRET@h' };
    expect(maskSecrets('given amqp://u:a b/c#SECRET@h here', env)).toBe('given amqp://u:***@h here');
  });

  test('guest:guest is no secret: the user name stays readable', () => {
    expect(urlSecrets('amqp://guest:guest@localhost')).toEqual([]);
    expect(maskSecrets("refused the login for user 'guest'", { AMQP_URL: 'amqp://guest:guest@h' })).toBe(
      "refused the login for user 'guest'",
    );
  });
});

describe('the settings refuse URLs that would be misread', () => {
  test.each([
    ['amqp://u:pa/SECRET@localhost:1', 'it does not parse as a URL'],
    ['amqp://u:pa#SECRET@localhost', 'it does not parse as a URL'],
    ['amqp://u:1/SECRET@localhost', 'part of it after the host holds an @'],
    ['amqp://u:p ss SECRET@localhost', 'it holds spaces'],
    ['not a url SECRET', 'it does not start with amqp:// or amqps://'],
    ['http://localhost:15672', 'its scheme is http://, not amqp:// or amqps://'],
  ])('%s', (url, problem) => {
    expect(urlProblem(url, ['amqp', 'amqps'])).toBe(problem);
    expect(() => checkUrl('AMQP_URL', url)).toThrow(problem);
    try {
      checkUrl('AMQP_URL', url);
    } catch (error) {
      expect((error as Error).message).not.toContain('SECRET');
      expect((error as { code?: string }).code).toBe('BAD_URL');
    }
  });

  test.each([
    ['amqp://guest:guest@localhost:5672'],
    ['amqp://u:p%40ss%2F%23%3A%20@localhost/%2F?heartbeat=5'],
    ['amqps://h'],
  ])('%s is fine', (url) => {
    expect(urlProblem(url, ['amqp', 'amqps'])).toBeUndefined();
  });

  test('each setting is checked only when read, so a bad MQTT_URL does not stop an AMQP program', () => {
    const values = settings({ MQTT_URL: 'mqtt://u:pa/SECRET@h:1', AMQP_URL: 'amqp://localhost' });
    expect(values.amqpUrls).toEqual(['amqp://localhost']);
    expect(() => values.mqttUrl).toThrow(/MQTT_URL is not a URL the MQTT broker can use/);
  });

  test('the management API credentials come from its own URL and never appear in its base', () => {
    const { base, authorization } = managementAuth({
      RABBITMQ_MANAGEMENT_URL: 'http://admin:p%40SECRET@h:15672',
    });
    expect(base).toBe('http://h:15672');
    expect(Buffer.from(authorization.slice(6), 'base64').toString()).toBe('admin:p@SECRET');
  });
});
