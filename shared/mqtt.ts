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
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      clean: true,
      ...(options.clientId ? { clientId: options.clientId } : {}),
    });
  } catch (error) {
    throw explain(error, { service: 'the MQTT broker', url });
  }
  // Nagle's algorithm holds the last small PUBLISH of a batch until the broker's delayed ACK,
  // about 40 ms: a fixed cost on every batch. mqtt.js leaves it on; turn it off.
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}
