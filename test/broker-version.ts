// The broker's version, as it announces it when a connection opens: the tests that prove how
// RabbitMQ 3.10 and 4.x differ assert the behaviour of the version they are talking to.
import type { ChannelModel } from 'amqplib';

export interface BrokerVersion {
  text: string;
  major: number;
  minor: number;
}

export function brokerVersion(connection: ChannelModel): BrokerVersion {
  const text = String(connection.connection.serverProperties.version ?? '');
  const [major, minor] = text.split('.').map(Number);
  if (!major || minor === undefined || Number.isNaN(minor))
    throw new Error(`the broker announced no version this test can read ('${text}')`);
  return { text, major, minor };
}

/** At least major.minor. */
export const atLeast = (version: BrokerVersion, major: number, minor = 0) =>
  version.major > major || (version.major === major && version.minor >= minor);
