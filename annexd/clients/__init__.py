"""One module per outside service (qBittorrent, Torznab, TMDB, media servers, delivery transports, archive
extraction). Each owns its settings type and its validation in a light ``<service>_settings`` module, so
``annexd.config`` composes them without importing the clients themselves."""
