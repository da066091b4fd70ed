import { z } from 'zod'

// Shared schemas and helpers, imported by steps without a file extension ('../../src/orders'),
// the way Motia projects do.

export const orderItemSchema = z.object({
  sku: z.string().min(1),
  quantity: z.number().int().positive(),
  unitPrice: z.number().nonnegative(),
})

export const orderSchema = z.object({
  id: z.string(),
  customerId: z.string(),
  items: z.array(orderItemSchema).min(1),
  total: z.number(),
  status: z.enum(['pending', 'reserved', 'paid', 'payment_failed', 'expired']),
  createdAt: z.string(),
})

export type Order = z.infer<typeof orderSchema>
export type OrderItem = z.infer<typeof orderItemSchema>

/** State group holding every order, keyed by order id. */
export const ORDERS = 'orders'

/** State group holding stock per SKU. */
export const STOCK = 'stock'

export const orderTotal = (items: OrderItem[]): number =>
  Math.round(items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0) * 100) / 100

export const newOrderId = (): string => `ord_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
