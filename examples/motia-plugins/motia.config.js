// CommonJS, plugins `require`d (the form Motia 0.17 fails to load). Motia's stock plugins resolve to CFP's
// stand-ins: the runtime serves their endpoints (`/__motia/state…`) itself.
const { config } = require('motia')
const statesPlugin = require('@motiadev/plugin-states/plugin')
const endpointPlugin = require('@motiadev/plugin-endpoint/plugin')
const logsPlugin = require('@motiadev/plugin-logs/plugin')
const observabilityPlugin = require('@motiadev/plugin-observability/plugin')
const todoTesterPlugin = require('./plugins/todo-tester')

module.exports = config({
  plugins: [observabilityPlugin, statesPlugin, endpointPlugin.default, logsPlugin, todoTesterPlugin],
})
