import type { NoopConfig } from 'motia'

// A noop step is never executed: it draws a step done outside the code (here, a person) in the workbench.
export const config: NoopConfig = {
  type: 'noop',
  name: 'ManualReview',
  description: 'Someone reads the greetings and replies by hand',
  virtualSubscribes: ['hello.processed'],
  virtualEmits: [{ topic: 'hello.reviewed', label: 'reviewed by a person' }],
  flows: ['hello'],
}
