import { stockPlugin } from './stock.js'

export default stockPlugin('logs')
