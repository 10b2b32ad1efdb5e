"""The demo shop at /demo-shop: a small camera shop with the Kohtaamo widget embedded exactly as a
real shop embeds it, where every one of the ten problem moments can be caused by hand."""
