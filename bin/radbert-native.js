#!/usr/bin/env node
// The `radbert-native` command. A committed file with mode 755, so the bin npm links is executable whatever mode tsc
// gives dist/cli/index.js; the command itself is dist/cli/index.js's run().
'use strict';
require('../dist/cli/index.js').run(process.argv.slice(2));
