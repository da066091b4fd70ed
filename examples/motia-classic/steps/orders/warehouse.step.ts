import { NoopConfig } from 'motia'

export const config: NoopConfig = {
  type: 'noop',
  name: 'WarehousePicking',
  description: 'The warehouse team picks and ships paid orders (outside this code)',
  virtualSubscribes: ['payment.charged'],
  virtualEmits: [{ topic: 'order.shipped', label: 'Shipped by the warehouse' }],
  flows: ['orders'],
}
