import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { MemorySink, type Warden } from '@tokenwarden/core';
import { DemoIssuer, listen } from '../../examples/shared/src';
import { getWardenToken } from '@tokenwarden/nest';
import { createApp as createExpressApp } from '../../examples/express-api/src/app';
import { createApp as createKoaApp } from '../../examples/koa-api/src/app';
import { AppModule } from '../../examples/nest-api/src/app.module';

/** One of the example apps, listening on a free port of 127.0.0.1. */
export interface RunningApp {
  readonly baseUrl: string;
  readonly warden: Warden;
  issue(subject: string, scopes: string[], client?: string): string;
  close(): Promise<void>;
}

/** The example apps by name: each starts on the embedded store, with demo tokens. */
export const EXAMPLE_APPS: Record<string, () => Promise<RunningApp>> = {
  'express-api': async () => {
    const { app, tw, issue } = createExpressApp();
    const server = await listen(app);
    return {
      baseUrl: server.baseUrl,
      warden: tw.warden,
      issue,
      close: async () => {
        await server.close();
        await tw.warden.close();
      },
    };
  },
  'koa-api': async () => {
    const { app, tw, issue } = createKoaApp();
    const server = await listen(app);
    return {
      baseUrl: server.baseUrl,
      warden: tw.warden,
      issue,
      close: async () => {
        await server.close();
        await tw.warden.close();
      },
    };
  },
  'nest-api (platform-express)': () => startNest('express'),
  'nest-api (platform-fastify)': () => startNest('fastify'),
};

async function startNest(platform: 'express' | 'fastify'): Promise<RunningApp> {
  const module = AppModule.register({ audit: new MemorySink() });
  let app: INestApplication;
  if (platform === 'fastify') {
    app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), {
      logger: false,
    });
  } else {
    app = await NestFactory.create(module, { logger: false });
  }
  await app.listen(0, '127.0.0.1');
  const issuer = app.get(DemoIssuer);
  return {
    baseUrl: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    warden: app.get<Warden>(getWardenToken()),
    issue: (subject, scopes, client) => issuer.issue(subject, scopes, client),
    close: () => app.close(),
  };
}
