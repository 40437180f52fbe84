import { writeFileSync } from 'node:fs';
import { openApiDocument } from '#core/openapi.ts';

/** Writes docs/openapi.json from the zod schemas (`npm run openapi`). */
writeFileSync(
  new URL('../docs/openapi.json', import.meta.url),
  `${JSON.stringify(openApiDocument(), null, 2)}\n`,
);
console.log('wrote docs/openapi.json');
