import { storeFromEnv } from '@tokenwarden/example-shared';
import { runDemo } from './demo';

const store = storeFromEnv();
runDemo({ store }).then(
  async (result) => {
    await store?.close();
    process.exit(result.ok ? 0 : 1);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
