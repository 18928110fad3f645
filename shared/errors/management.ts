// The management API's failures as sentences, the one place they are written. ManagementClient
// (management.ts) throws through these rows; the keys are what it puts on its error: the HTTP
// status of an answer that is not ok, or which step failed when there was no usable answer.
import type { Explainer } from '../errors.ts';

/** What ManagementClient marks its errors with, for the rows below. */
export interface ManagementFailure {
  /** The HTTP status of an answer that was not ok. */
  status?: number;
  /** No answer at all (refused, timed out), or an answer that is not the API's JSON. */
  step?: 'unreachable' | 'not-json';
}

const check = 'RABBITMQ_MANAGEMENT_URL';

export const managementApi: Explainer = {
  service: 'the RabbitMQ management API',
  setting: check,
  hint: 'is the management plugin enabled? `npm run services` enables it; or set RABBITMQ_MANAGEMENT_URL',
  keys: (error) => {
    const { status, step } = (error ?? {}) as ManagementFailure;
    if (step) return [`management:${step}`];
    return typeof status === 'number' ? [`http:${status}`, 'http:any'] : [];
  },
  rows: {
    'management:unreachable': {
      code: 'MANAGEMENT_UNREACHABLE',
      say: (f) =>
        `The RabbitMQ management API${f.where} did not answer (${f.detail}): is the management plugin enabled (npm run services enables it)? Or set ${check}.`,
    },
    'management:not-json': {
      code: 'MANAGEMENT_NOT_JSON',
      say: (f) => `What answers${f.where} is not RabbitMQ's management API (${f.detail}): check ${check}.`,
    },
    'http:401': {
      code: 'ACCESS_REFUSED',
      say: (f) =>
        `The RabbitMQ management API${f.where} refused the login${f.user ? ` for user '${f.user}'` : ''} (401): put the right user and password in ${check} (http://user:password@host:15672) or AMQP_URL, whose credentials it uses when it has none.`,
    },
    'http:404': {
      code: 'NOT_FOUND',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered 404 (${f.message}): check that ${check} is the management plugin's address (http://localhost:15672), and the vhost or queue name.`,
    },
    'http:any': {
      code: 'MANAGEMENT_API_ERROR',
      say: (f) =>
        `The RabbitMQ management API${f.where} answered ${f.message}: check ${check}, and that the user has the monitoring tag.`,
    },
  },
};
