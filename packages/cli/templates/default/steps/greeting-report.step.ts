import type { CronConfig, Handlers } from 'motia'

export const config: CronConfig = {
  type: 'cron',
  name: 'GreetingReport',
  description: 'Every minute, logs how many different people were greeted',
  cron: '* * * * *',
  emits: [],
  flows: ['hello'],
}

export const handler: Handlers['GreetingReport'] = async ({ logger, state }) => {
  const visits = await state.getGroup<number>('greetings')
  logger.info('Greeting report', { people: visits.length, visits: visits.reduce((sum, n) => sum + n, 0) })
}
