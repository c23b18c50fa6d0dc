"""annexd as Radarr and Sonarr: the v3 API under the URL bases ``/radarr`` and ``/sonarr`` (issue 18), so
Overseerr, Jellyseerr, LunaSea, Homepage and scripts can use annexd as their Radarr and Sonarr.

``routes`` is the route table and its dispatcher (mounted by :func:`annexd.http.arr.routes.mount`);
``conventions`` and ``resources`` are the pure JSON shapes; ``terms`` the lookup grammar; ``movies``,
``series`` and ``system`` the handlers; ``commands`` the bounded table of recent commands. The routes follow the
*arr apps' contract, not annexd's own OpenAPI document.
"""
