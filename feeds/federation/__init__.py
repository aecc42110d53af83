"""The fediverse: every group, and the network, as an ActivityPub actor people follow
from Mastodon and its kin (`@kaiserslautern@feeds.example`), built from what the group
already publishes.

- `signatures`: HTTP Signatures as Mastodon sends and checks them (bovine).
- `remote`: documents of other servers, fetched within the outbound policy and bounds.
- `keys`: each actor's key pair, made once and kept in the store.
- `inbox`: what followers send (Follow, Undo, Delete), verified.
- `delivery`: the queue of signed deliveries, sent by one process at a time.
"""

from feeds.urls import NETWORK

NETWORK_ACTOR = NETWORK  # a name no group can take (feeds/urls.py RESERVED_SLUGS)
