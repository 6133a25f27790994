// Talks to the booking API.
export interface Product { price: number }
export interface Cart { items: { product: Product }[] }

export async function fetchCart(id: string): Promise<Cart> {
  const res = await fetch(`/api/carts/${id}`);
  if (!res.ok) throw new Error(`Request failed with status ${res.status}`);
  return res.json();
}
