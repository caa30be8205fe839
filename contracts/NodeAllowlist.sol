// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title NodeAllowlist: which nodes may connect to a jsc-node chain's peer-to-peer network.
///
/// A system contract present from genesis at 0x000000000000000000000000000000004A53434E ("JSCN"),
/// switched on by the genesis policy `config.jsc.nodesAllowlist` (absent: only the validators and
/// each node's local nodes-allowlist file decide). When it is on, every node admits as a peer, at
/// the Noise handshake, a node listed here at its head IN ADDITION to the current validators and
/// its local file; a node removed from every list is disconnected and refused from then on
/// (jsc_node/governance/nodes.py reads this storage; jsc_node/p2p/host.py enforces it). This is
/// node admission, not block validity: no block is ever judged by this list.
///
/// A node is named by the 20-byte address of its node key (the secp256k1 key its libp2p peer ID
/// inlines; `admin_nodeInfo`'s `address`, the `address` file next to a validator key): the p2p
/// layer already reads that address from every peer ID to admit validators, so a listed node costs
/// it one set lookup, and the list is the same fixed-size words as the account allowlist's.
///
/// Admins, as in AccountAllowlist: any admin may add or remove nodes and admins; the last admin
/// cannot be removed (LastAdmin); one admin's transaction is enough (no voting among admins).
/// Admins are accounts, not nodes: being an admin admits no node.
///
/// Storage layout (fixed: Python reads it directly, jsc_node/governance/nodes.py):
///   slot 0  address[] nodes                          listed nodes, in the order added
///                                                    (removal moves the last into the gap)
///   slot 1  mapping(address => uint256) nodePosition  1-based index into nodes; 0 = absent
///   slot 2  address[] admins                         admins, same rules
///   slot 3  mapping(address => uint256) adminPosition
contract NodeAllowlist {
    address[] private nodes;
    mapping(address => uint256) private nodePosition;
    address[] private admins;
    mapping(address => uint256) private adminPosition;

    event NodeAdded(address indexed node, address indexed by);
    event NodeRemoved(address indexed node, address indexed by);
    event AdminAdded(address indexed admin, address indexed by);
    event AdminRemoved(address indexed admin, address indexed by);

    error NotAdmin(address caller);
    error EmptyList();
    error ZeroAddress();
    error AlreadyListed(address node);
    error NotListed(address node);
    error AlreadyAdmin(address account);
    error NotAnAdmin(address account);
    error LastAdmin(address admin);

    modifier onlyAdmin() {
        if (adminPosition[msg.sender] == 0) {
            revert NotAdmin(msg.sender);
        }
        _;
    }

    // --- the list's nodes -------------------------------------------------------------------

    /// Lists each node. Reverts, changing nothing, on an empty list, the zero address or a node
    /// already listed (a duplicate within the list included).
    function addNodes(address[] calldata list) external onlyAdmin {
        if (list.length == 0) {
            revert EmptyList();
        }
        for (uint256 i = 0; i < list.length; i++) {
            address node = list[i];
            if (node == address(0)) {
                revert ZeroAddress();
            }
            if (nodePosition[node] != 0) {
                revert AlreadyListed(node);
            }
            nodes.push(node);
            nodePosition[node] = nodes.length;
            emit NodeAdded(node, msg.sender);
        }
    }

    /// Unlists each node. Reverts, changing nothing, on an empty list or a node not listed.
    function removeNodes(address[] calldata list) external onlyAdmin {
        if (list.length == 0) {
            revert EmptyList();
        }
        for (uint256 i = 0; i < list.length; i++) {
            address node = list[i];
            uint256 position = nodePosition[node];
            if (position == 0) {
                revert NotListed(node);
            }
            address last = nodes[nodes.length - 1];
            nodes[position - 1] = last;
            nodePosition[last] = position;
            nodes.pop();
            delete nodePosition[node];
            emit NodeRemoved(node, msg.sender);
        }
    }

    // --- admins -----------------------------------------------------------------------------

    function addAdmin(address account) external onlyAdmin {
        if (account == address(0)) {
            revert ZeroAddress();
        }
        if (adminPosition[account] != 0) {
            revert AlreadyAdmin(account);
        }
        admins.push(account);
        adminPosition[account] = admins.length;
        emit AdminAdded(account, msg.sender);
    }

    /// Any admin may remove any admin, itself included, but not the last one.
    function removeAdmin(address account) external onlyAdmin {
        uint256 position = adminPosition[account];
        if (position == 0) {
            revert NotAnAdmin(account);
        }
        if (admins.length == 1) {
            revert LastAdmin(account);
        }
        address last = admins[admins.length - 1];
        admins[position - 1] = last;
        adminPosition[last] = position;
        admins.pop();
        delete adminPosition[account];
        emit AdminRemoved(account, msg.sender);
    }

    // --- views ------------------------------------------------------------------------------

    function isAllowed(address node) external view returns (bool) {
        return nodePosition[node] != 0;
    }

    function isAdmin(address account) external view returns (bool) {
        return adminPosition[account] != 0;
    }

    function getNodes() external view returns (address[] memory) {
        return nodes;
    }

    function getAdmins() external view returns (address[] memory) {
        return admins;
    }
}
