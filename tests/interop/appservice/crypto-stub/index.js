// See package.json: nothing here is called unless end-to-end encryption is turned on.
"use strict";
module.exports = {};
