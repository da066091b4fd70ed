const { z } = require('zod')

exports.config = {
  type: 'api',
  name: 'CreateTodo',
  path: '/todos',
  method: 'POST',
  emits: [],
  bodySchema: z.object({ id: z.string(), title: z.string() }),
}

exports.handler = async (req, { state }) => {
  const todo = { id: req.body.id, title: req.body.title, done: false }
  await state.set('todos', todo.id, todo)
  return { status: 201, body: todo }
}
