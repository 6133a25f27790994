// Checkout page: renders the cart total.
import { Cart } from "../api/client";

export function renderTotal(cart: Cart): string {
  const total = cart.items.reduce((s, i) => s + i.product.price, 0);
  return `Total: ${total.toFixed(2)}`;
}
