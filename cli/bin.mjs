#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so `npx audit-trail` works in the repo without a build.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main();
