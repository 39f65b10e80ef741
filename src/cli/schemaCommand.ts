// `idsync schema`: the config's JSON Schema, for editors (yaml-language-server `$schema=` modeline).
// config/idsync.schema.json is this output, committed; a test keeps the two equal.
import { Command } from 'commander';
import { configJsonSchema } from '../config/index.js';

export function renderConfigSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

export function schemaCommand(): Command {
  return new Command('schema')
    .description('Print the JSON Schema (draft 2020-12) of the idsync config file.')
    .showHelpAfterError()
    .exitOverride()
    .action(() => {
      process.stdout.write(renderConfigSchema());
    });
}
