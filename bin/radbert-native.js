#!/usr/bin/env node
// The `radbert-native` command. A committed file with mode 755, so the bin npm links is executable whatever mode tsc
// gives dist/cli.js; the command itself is dist/cli.js's run().
'use strict';
require('../dist/cli.js').run(process.argv.slice(2));
