// The BullMQ dashboard under /admin/queues, behind the admin token as a bearer or as the password
// of HTTP Basic (so a browser can open it: it prompts on the Basic challenge).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from './auth.js';
import { UnavailableError } from './http.js';

export const DASHBOARD_PREFIX = '/admin/queues';

export interface DashboardOptions {
  adminToken: string;
  queues: readonly Queue[];
  /** False while Redis is unreachable: 503 at once rather than a page waiting for it. */
  available: () => boolean;
}

export async function queueDashboard(scope: FastifyInstance, opts: DashboardOptions): Promise<void> {
  // Added before the board registers, so its routes and static files inherit the hook.
  scope.addHook('onRequest', requireAdmin({ adminToken: opts.adminToken, allowBasic: true }));
  scope.addHook('onRequest', async () => {
    if (!opts.available()) throw new UnavailableError('redis is not connected');
  });
  // Must equal the register prefix: it becomes the page's <base href> for the UI's assets.
  const serverAdapter = new FastifyAdapter().setBasePath(DASHBOARD_PREFIX);
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'idsync' } },
  });
  await scope.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PREFIX });
}
