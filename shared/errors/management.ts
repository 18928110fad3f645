// The management API's HTTP answers as sentences, keyed on the status a caller puts on its error
// (`Object.assign(new Error(…), { status: response.status })`).
import type { Explainer } from '../errors.ts';

export const managementApi: Explainer = {
  service: 'the RabbitMQ management API',
  setting: 'RABBITMQ_MANAGEMENT_URL',
  hint: 'is the management plugin enabled? `npm run services` enables it; or set RABBITMQ_MANAGEMENT_URL',
  keys: (error) => {
    const status = (error as { status?: unknown } | undefined)?.status;
    return typeof status === 'number' ? [`http:${status}`, 'http:any'] : [];
  },
  rows: {
    'http:401': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `The RabbitMQ management API${f.where} refused the login (401): check the user and password in RABBITMQ_MANAGEMENT_URL (or AMQP_URL, whose credentials it uses when it has none).`,
    },
    'http:404': {
      code: 'NOT_FOUND',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered 404 (${f.message}): check that RABBITMQ_MANAGEMENT_URL is the management plugin's address (http://localhost:15672), and the vhost or queue name.`,
    },
    'http:any': {
      code: 'MANAGEMENT_API_ERROR',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered with an error (${f.message}): check RABBITMQ_MANAGEMENT_URL, and the broker's log.`,
    },
  },
};
