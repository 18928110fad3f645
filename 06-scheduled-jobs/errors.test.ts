// PostgreSQL's and MQTT's failures as one sentence (postgres-errors.ts, mqtt-errors.ts): each row
// met with a real error where one is cheap to cause, else with an error shaped exactly as pg or
// mqtt.js makes it.
import { describe, expect, test } from '@jest/globals';
import mqtt, { ErrorWithReasonCode } from 'mqtt';
import pg from 'pg';
import { settings } from '../shared/config.ts';
import { explain } from '../shared/errors.ts';
import { rejection, secretUrl, sentence } from '../test/error-sentences.ts';
import { mqttBroker } from './mqtt-errors.ts';
import { connectionLost, postgres } from './postgres-errors.ts';

describe('PostgreSQL SQLSTATE codes', () => {
  const base = settings().databaseUrl;
  async function pgError(where: string, sql?: string): Promise<unknown> {
    const client = new pg.Client({ connectionString: where });
    client.on('error', () => {});
    try {
      await client.connect();
      if (sql) await client.query(sql);
    } catch (error) {
      return error;
    } finally {
      await client.end().catch(() => {});
    }
    throw new Error('it did not fail');
  }

  test('3D000 a database that does not exist', async () => {
    const where = base.replace(/\/[^/?]*(\?.*)?$/, '/no_such_db_course');
    expect(sentence(await pgError(where), postgres, where).code).toBe('UNKNOWN_DATABASE');
  });

  test('28000 a role that does not exist', async () => {
    const where = base.replace(/\/\/[^@/]*@|\/\//, '//no_such_role_course@');
    expect(sentence(await pgError(where), postgres, where).code).toBe('ACCESS_REFUSED');
  });

  test('42P01 a table that does not exist', async () => {
    const explained = sentence(await pgError(base, 'SELECT * FROM no_such_table_course'), postgres, base);
    expect(explained.code).toBe('SCHEMA_MISMATCH');
  });

  test('57P01 the server shutting down, as pg reports it', () => {
    const error = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
    });
    expect(sentence(error, postgres, base).code).toBe('CLOSED_BY_BROKER');
  });

  test('ECONNREFUSED names PostgreSQL and DATABASE_URL', async () => {
    const where = secretUrl('postgres://127.0.0.1:1/db');
    const explained = sentence(await pgError(where), postgres, where);
    expect(explained.code).toBe('CONNECTION_REFUSED');
    expect(explained.message).toMatch(/DATABASE_URL/);
  });
});

describe('MQTT reason codes', () => {
  test.each([
    [5, 'ACCESS_REFUSED'],
    [135, 'ACCESS_REFUSED'],
    [134, 'ACCESS_REFUSED'],
    [136, 'SERVER_UNAVAILABLE'],
    [151, 'MQTT_REFUSED'],
  ])('%i, as mqtt.js reports a refused CONNACK or PUBACK', (code, expected) => {
    const error = new ErrorWithReasonCode('Connection refused: Not authorized', code);
    expect(sentence(error, mqttBroker, secretUrl('mqtt://localhost:1883')).code).toBe(expected);
  });

  test('ECONNREFUSED names the MQTT broker and MQTT_URL', async () => {
    const where = 'mqtt://127.0.0.1:1';
    const error = await rejection(mqtt.connectAsync(where, { reconnectPeriod: 0 }));
    const explained = sentence(error, mqttBroker, where);
    expect(explained.code).toBe('CONNECTION_REFUSED');
    expect(explained.message).toMatch(/MQTT_URL/);
  });
});

describe("a lesson 06 program's errors that reach runMain", () => {
  const services = [postgres, mqttBroker];

  test('a SQLSTATE is read as PostgreSQL’s, a reason code as the MQTT broker’s', () => {
    const pgError = Object.assign(new Error('database "x" does not exist'), { code: '3D000' });
    expect(explain(pgError, {}, services).message).toMatch(/^PostgreSQL has no such database/);
    const refused = new ErrorWithReasonCode('Connection refused: Not authorized', 135);
    expect(explain(refused, {}, services).message).toMatch(/^The MQTT broker refused the login/);
  });

  test('a connection pg reports gone is worth reconnecting; a failed statement is not', () => {
    expect(connectionLost(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(connectionLost(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(true);
    expect(connectionLost(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
  });
});

describe('MQTT words mqtt.js gives no code for', () => {
  test('a URL mqtt.js cannot use names MQTT_URL', () => {
    let error: unknown;
    try {
      new URL('not a url SECRET');
    } catch (e) {
      error = e;
    }
    expect(sentence(error, mqttBroker, 'not a url SECRET').message).toMatch(
      /^MQTT_URL is not a URL an MQTT client can use \(Invalid URL\): write it as mqtt:\/\/host:1883\.$/,
    );
  });
});
