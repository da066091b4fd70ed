import { stockPlugin } from './stock.js'

export default stockPlugin('observability')
