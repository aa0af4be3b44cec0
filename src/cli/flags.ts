/** Flags shared by the client-side commands (push, status). */
import { Flags } from '@oclif/core';

export const apiFlags = {
  url: Flags.string({
    description: 'HTTP API of a running `taco serve`',
    env: 'TACO_URL',
    default: 'http://127.0.0.1:8080',
  }),
  app: Flags.string({ description: 'app id (business API auth)', env: 'TACO_APP', required: true }),
  secret: Flags.string({ description: 'app secret (business API auth)', env: 'TACO_SECRET', required: true }),
  timeout: Flags.integer({ description: 'request deadline in milliseconds', default: 10_000, min: 1 }),
};
