import { createApp } from './app';
import { storeFromEnv } from './store';

const port = Number(process.env.PORT ?? 3000);
const { app } = createApp({ store: storeFromEnv() });
app.listen(port, () => {
  console.log(`customers API on http://localhost:${port} (POST /demo/token for a demo token)`);
});
