// REDIS_URL selects the RedisStore, as in the Express example.
import { storeFromEnv } from '@tokenwarden/example-shared';
import { createApp } from './app';

const port = Number(process.env.PORT ?? 3000);
const { app } = createApp({ store: storeFromEnv() });
app.listen(port, () => {
  console.log(
    `customers API (Koa) on http://localhost:${port} (POST /oauth/token for client credentials, POST /demo/token for a demo token)`,
  );
});
