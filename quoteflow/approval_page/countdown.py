"""The one script the page runs: deadlines count down live, and when one passes the
decision buttons are disabled and a notice says so (no reload: typed prices stay); a
pressed button shows it is working. Allowed
by its hash in the Content-Security-Policy; nothing else may run."""

from __future__ import annotations

import base64
import hashlib

COUNTDOWN_JS = (
    "(function(){function f(l){var m=Math.floor(l/60000),s=Math.floor(l/1000)%60;"
    "if(m>=2880)return Math.floor(m/1440)+' days';"
    "if(m>=120)return Math.floor(m/60)+' h '+(m%60)+' min';if(m>=10)return m+' min';"
    "if(m>=1)return m+' min '+s+' s';return s+' s';}"
    "function t(){var n=Date.now();document.querySelectorAll('[data-deadline]').forEach("
    "function(e){var l=Date.parse(e.getAttribute('data-deadline'))-n;"
    "if(l>0){e.textContent='(expires in '+f(l)+')';return;}"
    "if(e.getAttribute('data-closed'))return;e.setAttribute('data-closed','1');"
    "e.textContent='(expired)';var c=document.getElementById('window-closed-live');"
    "if(c)c.hidden=false;document.querySelectorAll('button.approve,button.reject')"
    ".forEach(function(b){b.disabled=true;});});}t();setInterval(t,1000);"
    "document.addEventListener('submit',function(e){var b=e.submitter;if(b)setTimeout("
    "function(){b.disabled=true;b.textContent='Working...';},0);});})();"
)
COUNTDOWN_HASH = (
    "sha256-" + base64.b64encode(hashlib.sha256(COUNTDOWN_JS.encode()).digest()).decode()
)
