// MQTT for lesson 06: MQTT 5 (user properties carry the job id), errors as sentences.
import mqtt, { type MqttClient } from 'mqtt';
import { settings } from './config.ts';
import { explain } from './errors.ts';

export type { MqttClient } from 'mqtt';

/**
 * Connects once, failing fast: no automatic reconnect, because a publisher that lost its broker
 * must roll back its batch and stop, not queue publishes in memory for a broker that may not return.
 */
export async function connectMqtt(options: { url?: string; clientId?: string } = {}): Promise<MqttClient> {
  const url = options.url ?? settings().mqttUrl;
  try {
    return await mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      clean: true,
      ...(options.clientId ? { clientId: options.clientId } : {}),
    });
  } catch (error) {
    throw explain(error, { service: 'the MQTT broker', url });
  }
}
