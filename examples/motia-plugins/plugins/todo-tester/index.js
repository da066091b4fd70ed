/** An app's own plugin: routes under /__motia/todo-tester and a workbench tab. */
module.exports = function todoTesterPlugin(motia) {
  motia.registerApi({ method: 'GET', path: '/__motia/todo-tester/health' }, async () => ({
    status: 200,
    body: { status: 'healthy', message: 'Todo Tester Plugin is running' },
  }))

  // Reads the project's state through the plugin context (`motia.state`) while the route runs.
  motia.registerApi({ method: 'GET', path: '/__motia/todo-tester/count' }, async (_req, ctx) => {
    const todos = await motia.state.getGroup('todos')
    ctx.logger.info('counted todos', { count: todos.length })
    return { status: 200, body: { count: todos.length } }
  })

  return {
    dirname: __dirname,
    workbench: [
      {
        componentName: 'TodoTesterPanel',
        packageName: '~/plugins/todo-tester/components/todo-tester-panel.tsx',
        label: 'Todo',
        position: 'top',
        labelIcon: 'check-square',
      },
    ],
  }
}
