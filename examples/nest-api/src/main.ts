import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { storeFromEnv } from '@tokenwarden/example-shared';
import { AppModule } from './app.module';

/**
 * Starts the API. Environment: PORT (default 3000), HOST (default 127.0.0.1), PLATFORM
 * (`express`, default, or `fastify`), REDIS_URL (use Redis instead of the embedded store),
 * DEMO_JWT_SECRET (base64url HS256 secret; default random).
 */
async function main(): Promise<void> {
  const store = storeFromEnv();
  const module = AppModule.register({ store });
  const app =
    process.env.PLATFORM === 'fastify'
      ? await NestFactory.create(module, new FastifyAdapter())
      : await NestFactory.create(module);
  await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  console.log(
    `customers API on ${url} (POST /oauth/token for client credentials, POST /demo/token for a demo token; store: ${store ? 'Redis' : 'memory'})`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // Closing the app closes the warden (flushing the audit trail); the store is ours.
      void app
        .close()
        .then(() => store?.close())
        .finally(() => process.exit(0));
    });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
