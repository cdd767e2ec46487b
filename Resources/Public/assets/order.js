// The order page: a countdown to the expiry and the Stripe.js card form. A file, not inline, so the
// Content-Security-Policy allows scripts from this site and Stripe only.
(function () {
  var countdown = document.getElementById('countdown');
  var form = document.getElementById('payment-form');
  var timeLeft = document.getElementById('time-left');
  var expiresAt = Date.parse(countdown.dataset.expiresAt);
  function tick() {
    var left = Math.floor((expiresAt - Date.now()) / 1000);
    if (left > 0) {
      var seconds = left % 60;
      timeLeft.textContent = Math.floor(left / 60) + ':' + (seconds < 10 ? '0' : '') + seconds;
    } else {
      // A status region, so that a screen reader says it; the ticking timer itself stays quiet.
      countdown.hidden = true;
      document.getElementById('expired').textContent = 'Order expired: the ticket is back on sale.';
      form.hidden = true;
      clearInterval(timer);
    }
  }
  var timer = setInterval(tick, 1000);
  tick();

  // Card details go from the browser straight to Stripe; this site only ever sees the token.
  var stripe = Stripe(form.dataset.stripeKey);
  var card = stripe.elements().create('card');
  card.mount('#card-element');
  var errors = document.getElementById('card-errors');
  form.addEventListener('submit', function (event) {
    if (document.getElementById('token').value) return;
    event.preventDefault();
    document.getElementById('pay').disabled = true;
    stripe.createToken(card).then(function (result) {
      if (result.error) {
        errors.textContent = result.error.message || 'Your card could not be used.';
        errors.hidden = false;
        document.getElementById('pay').disabled = false;
      } else {
        document.getElementById('token').value = result.token.id;
        form.submit();
      }
    });
  });
})();
